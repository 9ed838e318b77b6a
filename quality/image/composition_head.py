"""The learned composition score: a small ranking head on EfficientNet-Lite0's last feature map.

    u = sum_k,y,x spatial[k,y,x] * relu(conv[k] . f[:, y, x] + conv_bias[k])  +  global . mean_yx f  +  bias
    score = sigmoid((u - center) / scale)

The 1x1 convolution reduces the 1280 channels to a few "composition channels", and the
spatial weights say where in the 7x7 letterboxed frame they count: that is what lets the
head see a subject cut at the edge or pushed to one side, which a pooled feature cannot.
The global term carries sharpness, exposure and noise. Trained on pairs (original better than
its degraded copy) by `python -m train.composition`; center and scale put the
training originals' median utility at about 0.88 and the degraded copies' at about 0.12.

Content-fair: left alone, the utility's level depends on what a photo shows (a good night photo
looks like an underexposed copy of a car photo). With a content normaliser (`content_*` arrays),
the utility is read relative to the typical good photo of its kind:

    u' = u - sum_k p_k * content_center[k],   p = softmax(content_weight . mean_yx f + content_bias)

p is a logistic regression over the team's content classes (car, landscape, city, night, people,
interior, object) trained on originals *and their degraded copies* labelled with the original's
class, so a darkened or cropped copy keeps its photo's class; content_center[k] is the median
out-of-fold utility of class k's originals (the head is the mean of cross-fitted fold heads, and
each photo's level is read from the fold head that never trained on it: a head memorises its
training photos). Within one photo the order is (nearly) unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quality.artifacts import read_head_file, write_head_file


class CompositionHead:
    def __init__(self, conv: np.ndarray, conv_bias: np.ndarray, spatial: np.ndarray, global_weight: np.ndarray,
                 bias: float, center: float, scale: float, meta: dict | None = None,
                 content: dict[str, np.ndarray] | None = None):
        self.conv = conv.astype(np.float32)  # [K, C]
        self.conv_bias = conv_bias.astype(np.float32)  # [K]
        self.spatial = spatial.astype(np.float32)  # [K, 7, 7]
        self.global_weight = global_weight.astype(np.float32)  # [C]
        self.bias, self.center, self.scale = float(bias), float(center), float(scale)
        self.meta = meta or {}
        # content_weight [K, C], content_bias [K], content_center [K]; None: no normalisation
        self.content = {k: np.asarray(v, np.float32) for k, v in content.items()} if content else None

    @staticmethod
    def _batch(features: np.ndarray) -> np.ndarray:
        f = np.asarray(features, dtype=np.float32)
        return f[None] if f.ndim == 3 else f

    def content_probabilities(self, features: np.ndarray, pooled: np.ndarray | None = None) -> np.ndarray:
        """[N, K] probability of each content class (meta["content_classes"]) from the pooled features."""
        pooled = self._batch(features).mean(axis=(2, 3)) if pooled is None else pooled
        logits = pooled @ self.content["content_weight"].T + self.content["content_bias"]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def raw_utility(self, features: np.ndarray, pooled: np.ndarray | None = None) -> np.ndarray:
        """[N, C, 7, 7] (or [C, 7, 7]) -> [N] raw ranking utility."""
        f = self._batch(features)
        pooled = f.mean(axis=(2, 3)) if pooled is None else pooled
        reduced = np.maximum(np.einsum("kc,nchw->nkhw", self.conv, f) + self.conv_bias[None, :, None, None], 0.0)
        spatial = np.einsum("nkhw,khw->n", reduced, self.spatial)
        return spatial + pooled @ self.global_weight + self.bias

    def utility(self, features: np.ndarray) -> np.ndarray:
        """The ranking utility, relative to the typical good photo of its content when normalised."""
        f = self._batch(features)
        pooled = f.mean(axis=(2, 3))  # read by both terms: pooled once
        u = self.raw_utility(f, pooled)
        if self.content is None:
            return u
        return u - self.content_probabilities(f, pooled) @ self.content["content_center"]

    def centre_on(self, original: np.ndarray, copies: np.ndarray) -> None:
        """Set `center` and `scale` so originals' median utility scores ~0.88 and copies' ~0.12."""
        good, bad = float(np.median(self.utility(original))), float(np.median(self.utility(copies)))
        self.center, self.scale = (good + bad) / 2, max((good - bad) / 4, 1e-6)

    def score(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.utility(features) - self.center) / self.scale))

    @classmethod
    def load(cls, path: Path) -> "CompositionHead":
        arrays, meta = read_head_file(path)
        content = {k: arrays[k] for k in ("content_weight", "content_bias", "content_center")} \
            if "content_weight" in arrays else None
        return cls(arrays["conv"], arrays["conv_bias"], arrays["spatial"], arrays["global_weight"],
                   float(arrays["bias"]), float(arrays["center"]), float(arrays["scale"]), meta, content)

    def save(self, path: Path) -> None:
        write_head_file(path, self.meta, conv=self.conv, conv_bias=self.conv_bias, spatial=self.spatial,
                        global_weight=self.global_weight, bias=np.float32(self.bias),
                        center=np.float32(self.center), scale=np.float32(self.scale), **(self.content or {}))
