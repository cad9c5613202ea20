"""MangaNinjaPipeline: reference-guided line art colorization on stock diffusers modules."""

from __future__ import annotations

import contextlib
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import numpy as np
import PIL.Image
import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    UNet2DConditionModel,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection
from transformers.image_processing_utils import BaseImageProcessor

from manganinja.guidance import get_guidance
from manganinja.images import ImageInput, fit_long_side, load_image, to_rgb
from manganinja.lines import Lines, find_official_extractor, model_condition
from manganinja.models.condition import ConditionTokens
from manganinja.models.factory import SD15_POINT_NET_CONFIG, TinyStart, build_components, clip_image_processor
from manganinja.models.point_net import PointNet, point_net_config_from_state_dict
from manganinja.models.reference_attention import (
    GUIDANCE_BRANCHES,
    Branch,
    PointEmbeddings,
    ReferenceState,
    install_reference_processors,
)
from manganinja.point_regions import HINT_CHANNELS, HINTED_CONDITION_CHANNELS, fill_regions, hint_map, line_regions, picture_regions, reference_colors
from manganinja.points import MAX_POINT_PAIRS, PointPairs, PointsError, point_map
from manganinja.settings import Extractor, Polarity, ReferenceMode, Sampling, check_recommended, resolve_sampling
from manganinja.stitching import canvas_size, stitch_references, stitched_points

#: Which ControlNet row each branch uses: the ControlNet runs once per distinct context
#: (row 0: unconditional token, row 1: reference token); REF and POINT share row 1.
CONTROLNET_ROW: dict[Branch, int] = {Branch.UNCOND: 0, Branch.REF: 1, Branch.POINT: 1}
#: The rows of a hint model given points (:attr:`MangaNinjaPipeline.takes_hints`): the color hints
#: are part of the points, so only the POINT branch's row (row 2, reference token) sees them; rows
#: 0 and 1 have blank hints. The point guidance ``s_pt (p - r)`` then scales the hints as it scales
#: the point embeddings, as the multi-condition guidance intends (REF: reference, no points).
HINTED_CONTROLNET_ROW: dict[Branch, int] = {Branch.UNCOND: 0, Branch.REF: 1, Branch.POINT: 2}


def build_pipeline(
    size: str = "tiny",
    seed: int = 0,
    vae: AutoencoderKL | None = None,
    unet_channels: tuple[int, ...] | None = None,
    start: TinyStart = "random",
) -> "MangaNinjaPipeline":
    """A :class:`MangaNinjaPipeline` with random weights (see
    :func:`manganinja.models.factory.build_components`; ``vae``, ``unet_channels`` and ``start``
    as there)."""
    return MangaNinjaPipeline(**build_components(size, seed, vae=vae, unet_channels=unet_channels, start=start))


@dataclass
class MangaNinjaPipelineOutput(BaseOutput):
    """``images``: list of PIL images, or of uint8 (H, W, 3) arrays for ``output_type="np"``,
    at the line art's input size."""

    images: list[PIL.Image.Image] | list[np.ndarray]


@dataclass
class ReferenceEncoding:
    """What is computed once per set of references and reused for every step and every page.

    ``bank[name]``: per self-attention block, one (1, M_k, C) tensor per encoded reference image.
    ``cond_token``: (1, 1, D) CLIP image embedding. ``input_sizes``: (width, height) of each
    reference as given. ``map_sizes``: (width, height) of each encoded picture (one for
    ``stitch``). ``placements``: per reference, (x0, y0, scale) of its place in the encoded
    picture (identity for ``concat``), used to move point coordinates. ``pictures``: each
    reference as given, uint8 (H_k, W_k, 3), where the guides' colors are read
    (:meth:`MangaNinjaPipeline.guide_colors`). ``region_labels``: each encoded picture's regions
    at its map size, for a model with region point maps.
    """

    bank: dict[str, list[torch.Tensor]]
    cond_token: torch.Tensor
    input_sizes: list[tuple[int, int]]
    map_sizes: list[tuple[int, int]]
    placements: list[tuple[int, int, float]]
    mode: str
    pictures: list[np.ndarray]
    region_labels: list[np.ndarray] | None = None


def reference_placements(
    pairs: PointPairs, encoding: ReferenceEncoding
) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]]:
    """Where the pairs' reference points lie on each encoded picture of ``encoding``: per picture,
    ``(own, xy, input_size, map_size)``: ``own`` bool (n,) the pairs on it, ``xy`` (m, 2) their
    reference points in the coordinates of ``input_size`` (moved onto the canvas for ``stitch``),
    and the picture's map size, both (width, height)."""
    if encoding.mode == "stitch":
        placed = stitched_points(pairs, encoding.placements).reference_xy
        return [(np.ones(len(pairs), bool), placed, canvas_size(encoding.input_sizes, encoding.placements), encoding.map_sizes[0])]
    out = []
    for k, (size, map_size) in enumerate(zip(encoding.input_sizes, encoding.map_sizes)):
        own = pairs.reference_indices == k
        out.append((own, pairs.reference_xy[own], size, map_size))
    return out


class MangaNinjaPipeline(DiffusionPipeline):
    """Colorize a line art from one or more colored references, optionally pinned by point pairs.

    Components: a reference U-Net (writes the attention bank once per reference), a denoising
    U-Net (reads it), a line-art ControlNet, a PointNet, a VAE, a CLIP vision encoder with its
    image processor, the unconditional token and a scheduler (DDIM by default).

    ``recommended``: the model's working resolution and sampling values, a dict with any of
    ``resolution``, ``steps``, ``guidance_scale_ref``, ``guidance_scale_point`` (see
    :data:`manganinja.settings.RECOMMENDED_KEYS`). It is a pipeline config entry:
    ``save_pretrained`` writes it to ``model_index.json`` and ``from_pretrained`` restores it.
    Every entry point (``colorize``, ``evaluate --engine ninja``, the web UI) uses it where the
    user gives no value; missing keys fall back to the official 512 px / 50 steps / 9 / 15. A
    model trained at 128 px sets it before saving::

        pipe.set_recommended(resolution=128, steps=20)
        pipe.save_pretrained("out/model")
    """

    model_cpu_offload_seq = "image_encoder->vae->reference_unet->point_net->controlnet->denoising_unet"

    def __init__(
        self,
        vae: AutoencoderKL,
        reference_unet: UNet2DConditionModel,
        denoising_unet: UNet2DConditionModel,
        controlnet: ControlNetModel,
        point_net: PointNet,
        image_encoder: CLIPVisionModelWithProjection,
        feature_extractor: BaseImageProcessor,
        condition_tokens: ConditionTokens,
        scheduler: SchedulerMixin,
        # typing.Union spelled out: diffusers' load-time type check does not read `float | int`.
        recommended: Optional[Dict[str, Union[float, int]]] = None,
    ) -> None:
        super().__init__()
        self.register_to_config(recommended=check_recommended(recommended))
        self.register_modules(
            vae=vae,
            reference_unet=reference_unet,
            denoising_unet=denoising_unet,
            controlnet=controlnet,
            point_net=point_net,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            condition_tokens=condition_tokens,
            scheduler=scheduler,
        )
        self.reference_state = ReferenceState()
        writers = install_reference_processors(reference_unet, self.reference_state, "write")
        readers = install_reference_processors(denoising_unet, self.reference_state, "read")
        if writers != readers:
            raise ValueError("reference and denoising U-Nets have different transformer blocks; they must share an architecture")
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        #: Official line-art extractor weights (``sk_model.pth``), found by ``from_official``.
        self.extractor_weights: Path | None = None

    # ------------------------------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_official(
        cls, checkpoints_dir: str | Path, torch_dtype: torch.dtype = torch.float32
    ) -> "MangaNinjaPipeline":
        """Load the official release layout (see :mod:`manganinja.models.loading`), strictly.

        The U-Nets, ControlNet and PointNet come from ``MangaNinjia/*.pth`` (the SD1.5 U-Net and
        the original ControlNet supply only their configs); only the reference U-Net's unused
        ``conv_norm_out``/``conv_out`` may be absent (they are zero-filled). The unconditional
        token is computed from the CLIP text encoder, which is then dropped.
        """
        from manganinja.models.loading import (
            CheckpointError,
            OfficialLayout,
            build_strict,
            load_state_dict_file,
            read_json,
        )

        layout = OfficialLayout(Path(checkpoints_dir))
        layout.check()
        unet_config = read_json(layout.sd_unet / "config.json")
        unet_config["in_channels"] = 4
        denoising_unet = build_strict(
            UNet2DConditionModel,
            unet_config,
            load_state_dict_file(layout.weights("denoising_unet")),
            f"'{layout.weights('denoising_unet')}'",
        )
        reference_unet = build_strict(
            UNet2DConditionModel,
            unet_config,
            load_state_dict_file(layout.weights("reference_unet")),
            f"'{layout.weights('reference_unet')}'",
            zero_fill=("conv_norm_out.", "conv_out."),
        )
        controlnet_config = read_json(layout.controlnet / "config.json")
        controlnet_config["in_channels"] = 4
        controlnet = build_strict(
            ControlNetModel,
            controlnet_config,
            load_state_dict_file(layout.weights("controlnet")),
            f"'{layout.weights('controlnet')}'",
        )
        point_state = load_state_dict_file(layout.weights("point_net"))
        try:
            point_config = point_net_config_from_state_dict(point_state)
        except ValueError as exc:
            raise CheckpointError(f"'{layout.weights('point_net')}': {exc}") from exc
        point_net = build_strict(PointNet, point_config, point_state, f"'{layout.weights('point_net')}'")

        vae = AutoencoderKL.from_pretrained(layout.vae)
        scheduler = DDIMScheduler.from_pretrained(layout.scheduler)
        with _quiet_transformers():
            # The official CLIP folder holds a whole CLIPModel: each tower skips the other's keys.
            image_encoder = CLIPVisionModelWithProjection.from_pretrained(layout.clip)
            text_encoder = CLIPTextModel.from_pretrained(layout.clip)
            tokenizer = CLIPTokenizer.from_pretrained(layout.clip)
        condition_tokens = ConditionTokens.from_text_encoder(text_encoder, tokenizer)
        del text_encoder, tokenizer

        pipe = cls(
            vae=vae,
            reference_unet=reference_unet,
            denoising_unet=denoising_unet,
            controlnet=controlnet,
            point_net=point_net,
            image_encoder=image_encoder,
            feature_extractor=clip_image_processor(),
            condition_tokens=condition_tokens,
            scheduler=scheduler,
        )
        pipe.extractor_weights = find_official_extractor(layout.root)
        return pipe.to_dtype(torch_dtype)

    @property
    def recommended(self) -> dict[str, float | int]:
        """The model's recommended sampling values (see the class docstring); may be empty."""
        return dict(self.config.get("recommended") or {})

    def set_recommended(self, **values: float | int) -> None:
        """Set (merge) the recommended sampling values saved with the model, e.g.
        ``set_recommended(resolution=128, steps=20)``; checked like the settings."""
        self.register_to_config(recommended=check_recommended({**self.recommended, **values}))

    def to_dtype(self, dtype: torch.dtype) -> "MangaNinjaPipeline":
        """Cast every model component to ``dtype`` (in place); returns ``self``."""
        for component in self.components.values():
            if isinstance(component, torch.nn.Module) and any(p.dtype != dtype for p in component.parameters()):
                component.to(dtype=dtype)
        return self

    # ------------------------------------------------------------------------------------------
    # Memory and speed switches
    # ------------------------------------------------------------------------------------------
    def enable_reference_offload(self, enabled: bool = True) -> None:
        """Keep the reference-stage models (reference U-Net, CLIP vision encoder) on the CPU and
        bring them to the accelerator only while a reference is encoded; the bank they produce
        stays. Saves their weights' memory during sampling (2.17 GiB at SD1.5 size in fp16)."""
        self._reference_offload = enabled
        if enabled:
            self.reference_unet.to("cpu")
            self.image_encoder.to("cpu")

    def set_attention_chunk(self, query_chunk: int | None) -> None:
        """Attention slicing for the self-attention of both U-Nets: compute ``query_chunk``
        queries at a time (same result, lower peak memory). ``None`` turns it off."""
        if query_chunk is not None and query_chunk < 1:
            raise ValueError(f"query_chunk must be >= 1 or None, got {query_chunk!r}")
        self.reference_state.query_chunk = query_chunk

    def enable_vae_tiling(self) -> None:
        """Decode/encode large images in tiles (diffusers' VAE tiling)."""
        self.vae.enable_tiling()

    def compile(self, **compile_kwargs: Any) -> None:
        """``torch.compile`` the networks that run every step (denoising U-Net, ControlNet)."""
        self.denoising_unet = torch.compile(self.denoising_unet, **compile_kwargs)
        self.controlnet = torch.compile(self.controlnet, **compile_kwargs)

    def _reference_models(self, device: torch.device | str) -> None:
        if getattr(self, "_reference_offload", False):
            self.reference_unet.to(device)
            self.image_encoder.to(device)

    # ------------------------------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------------------------------
    @property
    def _execution_device(self) -> torch.device:  # type: ignore[override]
        """Where sampling runs: the denoising U-Net's device (reference models may be offloaded)."""
        hook_device = super()._execution_device
        if hook_device.type != "cpu":
            return hook_device
        return self.denoising_unet.device

    def sampling_of(
        self,
        num_inference_steps: int | None = None,
        guidance_scale_ref: float | None = None,
        guidance_scale_point: float | None = None,
        resolution: int | None = None,
        fast: bool = False,
    ) -> Sampling:
        """The :class:`~manganinja.settings.Sampling` of loose call arguments (each ``None``: the
        model's recommendation, else the official value), checked once here; ``ValueError``
        naming the first bad argument. The engines pass a resolved ``Sampling`` instead."""
        if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int)):
            raise ValueError(f"resolution must be an integer, got {resolution!r}")
        if num_inference_steps is not None and (
            isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1
        ):
            raise ValueError(f"num_inference_steps must be an integer >= 1, got {num_inference_steps!r}")
        for name, value in (("guidance_scale_ref", guidance_scale_ref), ("guidance_scale_point", guidance_scale_point)):
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        return resolve_sampling(
            self.recommended, fast=fast, resolution=resolution, steps=num_inference_steps,
            guidance_scale_ref=guidance_scale_ref, guidance_scale_point=guidance_scale_point,
        )

    @staticmethod
    def check_inputs(
        has_lineart: bool,
        has_image: bool,
        points: PointPairs | None,
        output_type: str,
        reference_mode: str,
    ) -> None:
        """Raise ``ValueError`` naming the first bad argument (the sampling values are a checked
        :class:`~manganinja.settings.Sampling` by then)."""
        if has_lineart == has_image:
            raise ValueError("give exactly one of `lineart` (a line art) or `image` (a picture to extract line art from)")
        if output_type not in ("pil", "np"):
            raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
        if reference_mode not in ("concat", "stitch"):
            raise ValueError(f"reference_mode must be 'concat' or 'stitch', got {reference_mode!r}")
        if points is not None and not isinstance(points, PointPairs):
            raise ValueError(f"points must be a PointPairs or None, got {type(points).__name__}")

    def lineart_condition(self, lines: Lines, size: tuple[int, int]) -> torch.Tensor:
        """ControlNet condition of ``lines`` resized to ``size`` = (width, height)
        (:func:`~manganinja.lines.resize_line_map`): :func:`~manganinja.lines.model_condition`,
        (1, 3, h, w) on the execution device."""
        condition = torch.from_numpy(model_condition(lines.resized(size)))
        return condition[None].to(device=self._execution_device, dtype=self.controlnet.dtype)

    def _image_tensor(self, image: PIL.Image.Image, size: tuple[int, int]) -> torch.Tensor:
        """RGB picture resized to ``size`` (bicubic) as (1, 3, h, w) in [-1, 1]."""
        if image.size != tuple(size):
            image = image.resize(size, PIL.Image.Resampling.BICUBIC)
        arr = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0 * 2.0 - 1.0
        return torch.from_numpy(arr)[None].to(device=self._execution_device, dtype=self.vae.dtype)

    @torch.no_grad()
    def _decode_picture(self, latents: torch.Tensor, size: tuple[int, int]) -> PIL.Image.Image:
        """Scaled latents (1, 4, h, w) -> the 8-bit RGB picture, resized (bicubic) to ``size`` =
        (width, height) when it differs: the last step of sampling."""
        decoded = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False)[0]
        decoded = decoded.clamp(-1.0, 1.0).float().cpu().numpy()[0]
        array = ((decoded + 1.0) / 2.0 * 255.0).astype(np.uint8).transpose(1, 2, 0)
        result = PIL.Image.fromarray(array)
        if result.size != tuple(size):
            result = result.resize(size, PIL.Image.Resampling.BICUBIC)
        return result

    @torch.no_grad()
    def autoencode(self, picture: ImageInput, resolution: int) -> PIL.Image.Image:
        """``picture`` through the autoencoder alone, the way a sampled result comes out: resized
        (bicubic) to the processing size of ``resolution`` (:func:`~manganinja.images.fit_long_side`),
        encoded (posterior mean), decoded to 8 bits and resized back to its own size.

        No sampler can paint a picture closer than this with this pipeline's autoencoder and
        resolution: benchmarks score it as the floor of their errors (it sees the answer, so it
        is an oracle, never an engine)."""
        rgb = to_rgb(load_image(picture, name="picture"))
        size = fit_long_side(rgb.size, resolution)
        latents = self.vae.encode(self._image_tensor(rgb, size)).latent_dist.mode() * self.vae.config.scaling_factor
        return self._decode_picture(latents, rgb.size)

    @torch.no_grad()
    def clip_token(self, image: PIL.Image.Image) -> torch.Tensor:
        """CLIP ``image_embeds`` of ``image`` (default preprocessing), shape (1, 1, D)."""
        pixels = self.feature_extractor(images=image, return_tensors="pt").pixel_values
        # The encoder's own device (encode_reference moves it to the execution device first):
        # asking diffusers for the execution device walks every module, 40 ms a call on CPU.
        pixels = pixels.to(device=self.image_encoder.device, dtype=self.image_encoder.dtype)
        return self.image_encoder(pixels).image_embeds[:, None, :]

    # ------------------------------------------------------------------------------------------
    # Reference encoding (once per set of references)
    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_reference(
        self,
        reference: ImageInput | Sequence[ImageInput],
        resolution: int | None = None,
        mode: ReferenceMode = "concat",
    ) -> ReferenceEncoding:
        """Run the CLIP encoder, the VAE and the reference U-Net (batch 1, timestep 0) once per
        reference picture and keep the attention bank.

        ``mode="concat"``: each reference is encoded on its own at ``resolution`` and the banks
        are concatenated along tokens; the context token is the mean CLIP embedding.
        ``mode="stitch"`` (the paper): references are placed side by side on one canvas (scaled to
        a common height) that is encoded once; point coordinates move with each reference.
        """
        if resolution is None:
            resolution = resolve_sampling(self.recommended).resolution
        refs = [to_rgb(load_image(r, name=f"reference {i}")) for i, r in enumerate(_as_list(reference))]
        if not refs:
            raise ValueError("at least one reference image is required")
        if mode not in ("concat", "stitch"):
            raise ValueError(f"reference_mode must be 'concat' or 'stitch', got {mode!r}")
        input_sizes = [r.size for r in refs]
        if mode == "stitch" and len(refs) > 1:
            canvas, placements = stitch_references(refs)
            pictures = [canvas]
        else:
            pictures = refs
            placements = [(0, 0, 1.0)] * len(refs)
        self._reference_models(self._execution_device)
        tokens = torch.cat([self.clip_token(p) for p in pictures]).mean(dim=0, keepdim=True)
        state = self.reference_state
        state.clear()
        state.recording = True
        map_sizes = []
        try:
            for picture in pictures:
                size = fit_long_side(picture.size, resolution)
                map_sizes.append(size)
                pixels = self._image_tensor(picture, size)
                latents = self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor
                timestep = torch.zeros((), device=latents.device, dtype=torch.long)
                self.reference_unet(
                    latents.to(self.reference_unet.dtype),
                    timestep,
                    encoder_hidden_states=tokens.to(self.reference_unet.dtype),
                    return_dict=False,
                )
            bank = state.bank
        finally:
            state.clear()
            self._reference_models("cpu")
        regions = None  # region maps: each encoded picture's regions at its map size
        if self.point_net.config.region_maps:
            regions = [picture_regions(np.asarray(p if p.size == s else p.resize(s, PIL.Image.Resampling.BICUBIC)))
                       for p, s in zip(pictures, map_sizes)]
        return ReferenceEncoding(
            bank=bank,
            cond_token=tokens,
            input_sizes=input_sizes,
            map_sizes=map_sizes,
            placements=placements,
            mode=mode if len(refs) > 1 else "concat",
            region_labels=regions,
            pictures=[np.asarray(r) for r in refs],
        )

    @property
    def takes_hints(self) -> bool:
        """Whether the ControlNet's condition has the guides' color hints after the line art
        (:data:`~manganinja.point_regions.HINTED_CONDITION_CHANNELS` channels; a model trained here)."""
        return int(self.controlnet.config.conditioning_channels) == HINTED_CONDITION_CHANNELS

    @staticmethod
    def guide_colors(points: PointPairs, encoding: ReferenceEncoding) -> np.ndarray:
        """uint8 (n, 3): each pair's color on its reference as given (``encoding.pictures``,
        :func:`~manganinja.point_regions.reference_colors`); what a guide brings to the color
        hints and to the snap."""
        colors = np.zeros((len(points), 3), np.uint8)
        for k, picture in enumerate(encoding.pictures):
            own = points.reference_indices == k
            colors[own] = reference_colors(picture, points.reference_xy[own])
        return colors

    @classmethod
    def hint_condition(cls, points: PointPairs, encoding: ReferenceEncoding, line: Lines, map_size: tuple[int, int]) -> np.ndarray:
        """The guides' color hints (:func:`~manganinja.point_regions.hint_map`), float32
        (4, H, W) at ``map_size`` = (width, height): each pair's color on its reference as given
        (:meth:`guide_colors`), over its region of ``line`` at the line art's own size."""
        return hint_map(line.array, points.lineart_xy, cls.guide_colors(points, encoding), map_size)

    @staticmethod
    def point_maps(
        points: PointPairs | None,
        encoding: ReferenceEncoding,
        lineart_size: tuple[int, int],
        map_size: tuple[int, int],
        lineart_regions: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Point maps: the line art's (H, W) at ``map_size`` = (width, height), and one per
        encoded reference picture at its encoded size. Pair ``i`` is drawn with value ``i + 1``
        on the line art and on the map of its reference (moved onto the canvas for ``stitch``).

        Region maps (:mod:`manganinja.point_regions`) when ``lineart_regions`` (int (H, W) labels
        of the line art at ``map_size``) is given: each value then fills its region on the line
        art, and on each reference map the region of ``encoding.region_labels``."""
        pairs = points if points is not None else PointPairs()
        values = np.arange(1, len(pairs) + 1)
        target = point_map(pairs.lineart_xy, lineart_size, map_size, values)
        hidden = sorted(set(values.tolist()) - set(np.unique(target).tolist()))
        if hidden:
            warnings.warn(
                f"point pair(s) {hidden} share a line-art pixel with a later pair at the processing "
                f"size {map_size[0]}x{map_size[1]} and are hidden; move them apart or raise the resolution",
                stacklevel=2,
            )
        refs = [point_map(xy, src, dst, values[own]) for own, xy, src, dst in reference_placements(pairs, encoding)]
        if lineart_regions is None:
            return target, refs
        if encoding.region_labels is None:
            raise ValueError("region point maps need a reference encoding with region_labels (encode it with a region-map PointNet)")
        return fill_regions(target, lineart_regions), [fill_regions(m, r) for m, r in zip(refs, encoding.region_labels)]

    def point_embeddings(
        self,
        points: PointPairs | None,
        encoding: ReferenceEncoding,
        lineart_size: tuple[int, int],
        map_size: tuple[int, int],
        lineart_regions: np.ndarray | None = None,
    ) -> PointEmbeddings:
        """PointNet embeddings of :meth:`point_maps`. With no points the maps are all zeros (the
        official behaviour: the point branch still sees PointNet's response to an empty map)."""
        target, refs = self.point_maps(points, encoding, lineart_size, map_size, lineart_regions)
        device, dtype = self._execution_device, self.point_net.dtype

        def encode(m: np.ndarray) -> list[torch.Tensor]:
            return self.point_net(torch.from_numpy(m)[None, None].to(device=device, dtype=dtype))

        return PointEmbeddings(target=encode(target), reference=[encode(m) for m in refs])

    # ------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------
    def prepare_latents(
        self,
        shape: tuple[int, int, int, int],
        dtype: torch.dtype,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
        scheduler: SchedulerMixin | None = None,
    ) -> torch.Tensor:
        """Initial noise (B, 4, h, w), drawn on the CPU from ``generator`` unless ``latents`` is
        given, then scaled by the scheduler's initial sigma."""
        if latents is None:
            latents = torch.randn(shape, generator=generator, dtype=torch.float32)
        elif tuple(latents.shape) != tuple(shape):
            raise ValueError(f"latents of shape {tuple(latents.shape)} given; this line art needs {tuple(shape)}")
        latents = latents.to(device=self._execution_device, dtype=dtype)
        return latents * (scheduler or self.scheduler).init_noise_sigma

    @torch.no_grad()
    def __call__(
        self,
        reference: ImageInput | Sequence[ImageInput] | None = None,
        lineart: Lines | ImageInput | None = None,
        image: ImageInput | None = None,
        points: PointPairs | None = None,
        num_inference_steps: int | None = None,
        guidance_scale_ref: float | None = None,
        guidance_scale_point: float | None = None,
        guidance: str = "official",
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        progress: bool = True,
        resolution: int | None = None,
        reference_mode: ReferenceMode = "concat",
        reference_encoding: ReferenceEncoding | None = None,
        max_points: int | None = MAX_POINT_PAIRS,
        lineart_polarity: Polarity = "auto",
        extractor: Extractor = "auto",
        extractor_weights: str | Path | None = None,
        fast: bool = False,
        return_dict: bool = True,
        sampling: Sampling | None = None,
    ) -> MangaNinjaPipelineOutput | tuple:
        """Colorize ``lineart`` (a :class:`~manganinja.lines.Lines`, used as it is; or any
        drawing, made a ``Lines`` here once with ``lineart_polarity``) or the line art extracted
        from ``image`` (``extractor``: "auto", "xdog" or "informative"; the official extractor's
        weights are found in an official checkpoint folder or given as ``extractor_weights``)
        after ``reference`` (one picture or a list).

        ``num_inference_steps``, ``guidance_scale_ref``, ``guidance_scale_point`` and
        ``resolution`` default to the model's :attr:`recommended` values, else the official
        50 (20 with ``fast``) / 9.0 / 15.0 / 512 (:meth:`sampling_of`). Or pass ``sampling``, a
        resolved :class:`~manganinja.settings.Sampling` (what the engines do): it is used as it
        is, and the four loose arguments must then be left out.

        A picture given as ``image`` is made a line art at its own size, like a ``--image`` of
        the command line, then treated as any line art.

        Steps: 1. check inputs; 2. line-art condition at the processing size (long side
        ``resolution``, multiples of 64); 3. reference encoding (once; pass
        ``reference_encoding`` from :meth:`encode_reference` to reuse it across pages);
        4. point embeddings (and a hint model's color hints); 5. initial latents; 6. denoising
        loop (ControlNet at batch 2, or 3 for a hint model given points; U-Net at batch 3,
        guidance); 7. decode to uint8 and resize to the line art's size.

        ``fast=True`` samples with DPM-Solver++ (default 20 steps) instead of the official DDIM
        (default 50 steps); combine with fp16/bf16 weights and :meth:`compile` on a GPU.
        """
        # 1. Inputs
        if sampling is None:
            sampling = self.sampling_of(num_inference_steps, guidance_scale_ref, guidance_scale_point, resolution, fast)
        elif (num_inference_steps, guidance_scale_ref, guidance_scale_point, resolution) != (None,) * 4:
            raise ValueError("give `sampling` or the loose sampling arguments (num_inference_steps, guidance_scale_*, resolution), not both")
        resolution = sampling.resolution
        scheduler = fast_scheduler(self.scheduler) if fast else self.scheduler
        if reference is None and reference_encoding is None:
            raise ValueError("a reference image (or a reference_encoding) is required")
        self.check_inputs(lineart is not None, image is not None, points, output_type, reference_mode)
        combine = get_guidance(guidance)
        if image is not None:
            weights = extractor_weights if extractor_weights is not None else self.extractor_weights
            line = Lines.from_picture(image, extractor, weights)
        else:
            line = Lines.from_input(lineart, polarity=lineart_polarity)  # type: ignore[arg-type]
        lineart_size = line.size
        size = fit_long_side(lineart_size, resolution)

        # 2. Line-art condition
        cond = self.lineart_condition(line, size)

        # 3. References
        encoding = reference_encoding or self.encode_reference(reference, resolution, reference_mode)
        if points is not None:
            points.validate(encoding.input_sizes, lineart_size, max_pairs=max_points)

        # 4. Points
        regions = line_regions(line.resized(size)) if self.point_net.config.region_maps and points else None
        embeddings = self.point_embeddings(points, encoding, lineart_size, size, regions)
        control_rows = CONTROLNET_ROW
        if self.takes_hints:
            plain = torch.cat([cond, cond.new_zeros((1, HINT_CHANNELS, *cond.shape[-2:]))], dim=1)
            if points:
                hint = torch.from_numpy(self.hint_condition(points, encoding, line, size))
                hinted = torch.cat([cond, hint[None].to(device=cond.device, dtype=cond.dtype)], dim=1)
                cond, control_rows = torch.cat([plain, plain, hinted]), HINTED_CONTROLNET_ROW
            else:
                cond = plain

        # 5. Latents
        latent_shape = (1, self.denoising_unet.config.in_channels, size[1] // self.vae_scale_factor, size[0] // self.vae_scale_factor)
        latents = self.prepare_latents(latent_shape, self.denoising_unet.dtype, generator, latents, scheduler)

        # 6. Denoising loop
        device, dtype = self._execution_device, self.denoising_unet.dtype
        uncond = self.condition_tokens(1).to(device=device, dtype=dtype)
        cond_token = encoding.cond_token.to(device=device, dtype=dtype)
        n_rows = max(control_rows.values()) + 1  # row 0: unconditional token; the others: reference token
        controlnet_context = torch.cat([uncond] + [cond_token] * (n_rows - 1))
        rows = torch.tensor([control_rows[b] for b in GUIDANCE_BRANCHES], device=device)
        unet_context = controlnet_context[rows]
        branch_index = {b: i for i, b in enumerate(GUIDANCE_BRANCHES)}
        scheduler.set_timesteps(sampling.steps, device=device)
        step_kwargs = _scheduler_step_kwargs(scheduler, generator)
        state = self.reference_state
        state.bank = encoding.bank
        state.branches = GUIDANCE_BRANCHES
        state.points = embeddings
        try:
            self.set_progress_bar_config(disable=not progress)
            with self.progress_bar(total=len(scheduler.timesteps)) as bar:
                for t in scheduler.timesteps:
                    model_input = scheduler.scale_model_input(latents, t)
                    down, mid = self.controlnet(
                        model_input.expand(n_rows, -1, -1, -1),
                        t,
                        encoder_hidden_states=controlnet_context,
                        controlnet_cond=cond.expand(n_rows, -1, -1, -1),
                        return_dict=False,
                    )
                    eps = self.denoising_unet(
                        model_input.expand(len(GUIDANCE_BRANCHES), -1, -1, -1),
                        t,
                        encoder_hidden_states=unet_context,
                        down_block_additional_residuals=[d[rows] for d in down],
                        mid_block_additional_residual=mid[rows],
                        return_dict=False,
                    )[0]
                    parts = eps.split(1)
                    noise = combine(
                        parts[branch_index[Branch.UNCOND]],
                        parts[branch_index[Branch.REF]],
                        parts[branch_index[Branch.POINT]],
                        sampling.guidance_scale_ref,
                        sampling.guidance_scale_point,
                    )
                    latents = scheduler.step(noise, t, latents, **step_kwargs, return_dict=False)[0]
                    bar.update()
        finally:
            state.clear()

        # 7. Decode
        result = self._decode_picture(latents, lineart_size)
        self.maybe_free_model_hooks()
        images = [result if output_type == "pil" else np.asarray(result)]
        if not return_dict:
            return (images,)
        return MangaNinjaPipelineOutput(images=images)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report (expected unused keys) for the block's duration."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def fast_scheduler(scheduler: SchedulerMixin) -> SchedulerMixin:
    """DPM-Solver++ (2nd order multistep) built from ``scheduler``'s noise schedule."""
    return DPMSolverMultistepScheduler.from_config(scheduler.config, algorithm_type="dpmsolver++", solver_order=2)


def _scheduler_step_kwargs(scheduler: SchedulerMixin, generator: torch.Generator | None) -> dict[str, Any]:
    params = set(inspect.signature(scheduler.step).parameters)
    return {"generator": generator} if "generator" in params and generator is not None else {}


def pipeline_from_sd15(sd_dir: str | Path, controlnet_dir: str | Path | None, clip_dir: str | Path, seed: int = 0) -> "MangaNinjaPipeline":
    """A MangaNinja pipeline initialised from Stable Diffusion 1.5 (diffusers folder ``sd_dir``):
    both U-Nets from its U-Net, the ControlNet from ``controlnet_dir`` (else from the U-Net,
    zero-initialised outputs), the CLIP ViT-L/14 vision tower from ``clip_dir``, the unconditional
    token from the CLIP text tower (``clip_dir`` when it has a tokenizer, else SD's
    ``text_encoder``), a random PointNet; the random layers are seeded with ``seed``. The training starting point
    of the paper."""
    sd_dir, clip_dir = Path(sd_dir), Path(clip_dir)
    torch.manual_seed(seed)  # the ControlNet's new layers (from_unet) and PointNet start random
    denoising_unet = UNet2DConditionModel.from_pretrained(sd_dir, subfolder="unet")
    reference_unet = UNet2DConditionModel.from_pretrained(sd_dir, subfolder="unet")
    controlnet = ControlNetModel.from_pretrained(controlnet_dir) if controlnet_dir else ControlNetModel.from_unet(denoising_unet)
    text_dir, sub = (clip_dir, "") if (clip_dir / "tokenizer_config.json").exists() else (sd_dir, "text_encoder")
    text_encoder = CLIPTextModel.from_pretrained(text_dir, subfolder=sub)
    tokenizer = CLIPTokenizer.from_pretrained(text_dir, subfolder=sub.replace("text_encoder", "tokenizer"))
    point_net = PointNet(**SD15_POINT_NET_CONFIG)
    return MangaNinjaPipeline(
        vae=AutoencoderKL.from_pretrained(sd_dir, subfolder="vae"),
        reference_unet=reference_unet,
        denoising_unet=denoising_unet,
        controlnet=controlnet,
        point_net=point_net,
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(clip_dir),
        feature_extractor=clip_image_processor(),
        condition_tokens=ConditionTokens.from_text_encoder(text_encoder, tokenizer),
        scheduler=DDIMScheduler.from_pretrained(sd_dir, subfolder="scheduler"),
    )


__all__ = ["MangaNinjaPipeline", "MangaNinjaPipelineOutput", "ReferenceEncoding", "PointsError", "build_pipeline", "pipeline_from_sd15"]
