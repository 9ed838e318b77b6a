"""quality: content-quality scoring for Chinese brand communities. Entry point: `quality.service.QualityService`."""
