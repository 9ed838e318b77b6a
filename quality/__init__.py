"""quality: content-quality scoring for Chinese brand communities -- the core.

Entry point: `quality.service.QualityService` (`score_each`: posts in, per post a result or its
error). The core scores and stores and imports no edge: the HTTP app and CLI (`api`),
evaluation (`eval`), training (`train`), the Ray apps (`ray_apps`) and the benchmark (`bench`)
import it (tests/test_architecture.py holds the line).
"""
