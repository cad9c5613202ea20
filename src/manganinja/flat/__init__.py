"""The weight-free side of manganinja: regions of the line art, a colorizer that needs no model,
snapping any result to the regions, and layered output.

- :mod:`manganinja.flat.regions`: :func:`label_regions` (gap-closing region labels).
- :mod:`manganinja.flat.engine`: :func:`colorize_flat`, :func:`suggest_points`.
- :mod:`manganinja.flat.snap`: :func:`snap_to_regions`, :func:`snap_layers`.
- :mod:`manganinja.flat.layers`: :func:`split_layers`, :func:`write_layers`.
"""

from manganinja.flat.engine import FlatDiagnostics, FlatEngineError, FlatResult, colorize_flat, suggest_points
from manganinja.flat.inputs import FlatInputError
from manganinja.flat.layers import Layers, LayersError, split_layers, write_layers
from manganinja.flat.regions import Regions, RegionsError, label_regions
from manganinja.flat.snap import snap_layers, snap_to_regions

__all__ = [
    "FlatDiagnostics",
    "FlatEngineError",
    "FlatInputError",
    "FlatResult",
    "Layers",
    "LayersError",
    "Regions",
    "RegionsError",
    "colorize_flat",
    "label_regions",
    "snap_layers",
    "snap_to_regions",
    "split_layers",
    "suggest_points",
    "write_layers",
]
