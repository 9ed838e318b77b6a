"""The member layer: a member's activities over time to four stage profiles and a suggested tier."""
