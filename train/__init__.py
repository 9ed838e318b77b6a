"""Training scripts for the project's own heads. They run in a developer's session, not in CI;
CI loads what they wrote under `models/` and checks it against the manifest."""
