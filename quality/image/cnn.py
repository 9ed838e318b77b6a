"""EfficientNet-Lite0 (ImageNet) on onnxruntime: what the network sees of a photo, and what it says.

One forward pass per photo gives
  - the last feature map [1280, 7, 7], which the learned composition head reads;
  - ImageNet class probabilities, from which `car_probability` sums the car classes
    (the nearest thing to a car detector that can be had here);
  - a class-activation map (CAM) of the top classes: where the network's evidence is,
    i.e. the main subject, as a box in normalised image coordinates.

The photo is letterboxed, not squashed or centre-cropped: the whole frame, edges included,
is what composition is about, and the grey bars keep the aspect ratio visible.
Preprocessing is EfficientNet-Lite's own: (pixel - 127) / 128.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from quality.image.cnn_build import CLASSIFIER_FILE, INPUT_NAME, INPUT_SIZE, ONNX_FILE

MEAN, STD = 127.0, 128.0
PAD_VALUE = 127  # grey bars: 0 after normalisation
# ImageNet-1k classes that are cars or car parts (motor vehicles a car owner would post).
CAR_CLASSES = {
    407: "ambulance", 436: "beach wagon", 468: "cab", 479: "car wheel", 511: "convertible", 581: "grille",
    609: "jeep", 627: "limousine", 656: "minivan", 661: "Model T", 675: "moving van", 717: "pickup",
    734: "police van", 751: "racer", 817: "sports car", 864: "tow truck",
}
# What a photo shows, as groups of ImageNet classes (chosen by what the network answers on the
# scene-labelled Sun-Hays photos of ../shared/data/photos/general): evidence for a contest theme.
CONTENT_GROUPS = {
    "car": tuple(CAR_CLASSES),
    "nature": (970, 972, 973, 974, 975, 976, 977, 978, 979, 980),  # alp, cliff, coral reef ... volcano
    "city": (483, 497, 538, 562, 663, 668, 698, 705, 718, 727, 743, 807, 821, 829, 839, 874, 884, 888, 900, 919,
             920),  # castle, church, dome, fountain, monastery, ..., bridges, streetcar, viaduct, traffic light
}
CAM_TOP_CLASSES = 5
CAM_THRESHOLD = 0.25  # share of the CAM maximum that counts as subject (7x7 maps are coarse: be inclusive)


@dataclass(frozen=True)
class Letterbox:
    """Where the photo sits inside the square network input (pixels of the input)."""

    x0: int
    y0: int
    width: int
    height: int


def letterbox_geometry(width: int, height: int, size: int = INPUT_SIZE) -> Letterbox:
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return Letterbox((size - w) // 2, (size - h) // 2, w, h)


def network_input(rgb: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """HxWx3 uint8 -> (3 x size x size float32, where the photo is in it)."""
    box = letterbox_geometry(rgb.shape[1], rgb.shape[0], size)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    resized = Image.fromarray(np.ascontiguousarray(rgb)).resize((box.width, box.height), Image.BILINEAR,
                                                                 reducing_gap=2.0)
    canvas[box.y0:box.y0 + box.height, box.x0:box.x0 + box.width] = np.asarray(resized)
    return ((canvas.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1), box


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def car_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(the photo shows a car) as the ImageNet probability mass on car classes; [N]."""
    return probabilities[..., list(CAR_CLASSES)].sum(axis=-1)


@dataclass(frozen=True)
class NetworkOutput:
    features: np.ndarray  # [1280, 7, 7]
    probabilities: np.ndarray  # [1000]
    letterbox: Letterbox

    @property
    def car_probability(self) -> float:
        return float(car_probability(self.probabilities))

    @property
    def content(self) -> dict[str, float]:
        """Probability mass of each content group (car, nature, city)."""
        return {name: float(self.probabilities[list(classes)].sum()) for name, classes in CONTENT_GROUPS.items()}


class PhotoNetwork:
    """The ONNX session, loaded once per process (see quality.model_store)."""

    def __init__(self, build_dir: Path, threads: int = 2):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads sleep instead of spinning (as in quality.text.onnx_encoder): the network
        # runs beside the OpenCV/numpy checks, and a spinning pool thread takes a core from them.
        # On 2 shared cores, one forward pass: median 38 -> 20 ms (noisy machine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(Path(build_dir) / ONNX_FILE), options,
                                            providers=["CPUExecutionProvider"])
        classifier = np.load(Path(build_dir) / CLASSIFIER_FILE)
        self.classifier_weight = classifier["weight"]  # [1000, 1280]

    def run_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N, 3, 224, 224] -> (probabilities [N, 1000], features [N, 1280, 7, 7])."""
        logits, features = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(inputs, dtype=np.float32)})
        return softmax(logits), features

    def run(self, images: list[np.ndarray]) -> list[NetworkOutput]:
        if not images:
            return []
        prepared = [network_input(rgb) for rgb in images]
        probabilities, features = self.run_inputs(np.stack([p[0] for p in prepared]))
        return [NetworkOutput(f, p, box) for f, p, (_, box) in zip(features, probabilities, prepared)]

    def subject_box(self, output: NetworkOutput) -> tuple[float, float, float, float] | None:
        """Normalised (x0, y0, x1, y1) of the photo region that carries the top classes' evidence."""
        return cam_subject_box(output.features, output.probabilities, self.classifier_weight, output.letterbox)


def class_activation_map(features: np.ndarray, probabilities: np.ndarray, classifier_weight: np.ndarray,
                         top: int = CAM_TOP_CLASSES) -> np.ndarray:
    """Probability-weighted CAM of the top classes, [7, 7], clipped at 0."""
    classes = np.argsort(probabilities)[::-1][:top]
    weights = probabilities[classes] @ classifier_weight[classes]  # [1280]
    return np.maximum(np.tensordot(weights, features, axes=(0, 0)), 0.0)


def cam_subject_box(features: np.ndarray, probabilities: np.ndarray, classifier_weight: np.ndarray,
                    letterbox: Letterbox, threshold: float = CAM_THRESHOLD) -> tuple[float, float, float, float] | None:
    cam = class_activation_map(features, probabilities, classifier_weight)
    if cam.max() <= 0:
        return None
    size = INPUT_SIZE
    upsampled = np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
    inside = upsampled[letterbox.y0:letterbox.y0 + letterbox.height, letterbox.x0:letterbox.x0 + letterbox.width]
    mask = inside >= threshold * inside.max()
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    w, h = letterbox.width, letterbox.height
    return (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
