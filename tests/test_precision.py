"""train.precision (autocast, loss scaling), train.channels_last and train.compile: they change how the
networks run, and the loop around them (logging, checkpoints, exact resume) still holds."""

from pathlib import Path

import pytest
import torch
from conftest import make_trainer

from gantrain.core.errors import ConfigError
from gantrain.training.checkpoint import find_checkpoint, load_checkpoint
from gantrain.training.precision import MixedPrecision
from gantrain.training.settings import TrainSettings


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_with_float32_weights_and_finite_losses(tmp_path: Path, precision: str) -> None:
    trainer = make_trainer(tmp_path / "run", precision=precision, steps=4, log_every=2)
    before = [p.detach().clone() for p in trainer.nets["generator"].parameters()]
    result = trainer.fit()
    assert all(p.dtype == torch.float32 for p in [*trainer.nets["generator"].parameters(), *trainer.nets["discriminator"].parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.nets["generator"].parameters()))
    for name in ("loss/d", "loss/g"):
        assert torch.isfinite(torch.tensor(result.metrics[name])), name


def test_network_outputs_are_float32_inside_autocast(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", precision="bf16")
    z = torch.randn(3, 8)
    with trainer.precision.autocast():
        inside = torch.nn.functional.linear(z, torch.randn(4, 8))  # autocast is on: a product runs in bf16
        image = trainer.nets["generator"](z)
        logit = trainer.nets["discriminator"](image)
    assert inside.dtype == torch.bfloat16
    assert image.dtype == torch.float32 and logit.dtype == torch.float32  # the losses see float32


def test_bf16_changes_the_numbers_but_not_much(tmp_path: Path) -> None:
    fp32 = make_trainer(tmp_path / "fp32", steps=1)
    bf16 = make_trainer(tmp_path / "bf16", steps=1, precision="bf16")
    a, b = fp32.train_step(), bf16.train_step()
    assert a[0]["loss/d"] != b[0]["loss/d"]  # bf16 really ran
    assert float(a[0]["loss/d"]) == pytest.approx(float(b[0]["loss/d"]), rel=0.05)


def test_fp16_scales_the_loss_and_the_scale_is_checkpointed(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", precision="fp16", steps=3, ckpt_every=3)
    assert trainer.scalers["discriminator"].is_enabled() and trainer.scalers["generator"].is_enabled()
    trainer.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert {name: s["scale"] for name, s in state["scalers"].items()} == {name: s.get_scale() for name, s in trainer.scalers.items()}
    state["scalers"]["discriminator"]["scale"], state["scalers"]["generator"]["scale"] = 1024.0, 512.0  # not a fresh scaler's 65536
    resumed = make_trainer(tmp_path / "run", precision="fp16", steps=6)
    resumed.load_state_dict(state, tmp_path / "run")
    assert (resumed.scalers["discriminator"].get_scale(), resumed.scalers["generator"].get_scale()) == (1024.0, 512.0)
    resumed.fit()  # and training goes on from the restored scales
    assert resumed.step == 6


def test_bf16_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = make_trainer(tmp_path / "straight", precision="bf16", steps=4, ckpt_every=2)
    straight.fit()
    first = make_trainer(tmp_path / "split", precision="bf16", steps=2, ckpt_every=2)
    first.fit()
    resumed = make_trainer(tmp_path / "split", precision="bf16", steps=4, ckpt_every=2)
    resumed.load_state_dict(load_checkpoint(find_checkpoint(tmp_path / "split")), tmp_path / "split")
    resumed.fit()
    for key, value in straight.nets["generator"].state_dict().items():
        assert torch.equal(value, resumed.nets["generator"].state_dict()[key]), key


def test_channels_last_follows_the_precision_unless_set(tmp_path: Path) -> None:
    conv_weight = lambda t: t.nets["generator"].net[0].weight  # noqa: E731  (B, C, H, W) weights: the memory format shows
    nhwc = lambda w: w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()  # noqa: E731
    from gantrain.training.precision import cpu_has_avx512

    assert nhwc(conv_weight(make_trainer(tmp_path / "a"))) == cpu_has_avx512()  # float32: the faster layout of this CPU
    assert nhwc(conv_weight(make_trainer(tmp_path / "b", precision="bf16")))
    assert not nhwc(conv_weight(make_trainer(tmp_path / "c", precision="bf16", channels_last=False)))
    assert nhwc(conv_weight(make_trainer(tmp_path / "d", channels_last=True)))


@pytest.mark.parametrize("avx512", [True, False])
def test_the_default_layout_is_the_faster_one_of_each_kind_of_machine(avx512: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from gantrain.training import precision
    from gantrain.training.settings import TrainSettings

    # the CPU's kind cannot change under a test: what it reports can
    monkeypatch.setattr(precision, "cpu_has_avx512", lambda: avx512)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert TrainSettings().nhwc(cpu) is avx512  # float32: channels-last with AVX-512, NCHW on AVX2 alone
    assert TrainSettings().nhwc(gpu) is False  # cuDNN's float32 NCHW
    assert TrainSettings(precision="bf16").nhwc(cpu) and TrainSettings(precision="fp16").nhwc(gpu)
    assert TrainSettings(channels_last=False, precision="bf16").nhwc(cpu) is False
    assert TrainSettings(channels_last=True).nhwc(gpu) is True


def test_channels_last_in_float32_gives_the_same_training_up_to_rounding(tmp_path: Path) -> None:
    nchw = make_trainer(tmp_path / "a", steps=2)
    nhwc = make_trainer(tmp_path / "b", steps=2, channels_last=True)
    nchw.fit()
    nhwc.fit()
    for (key, a), b in zip(nchw.nets["generator"].state_dict().items(), nhwc.nets["generator"].state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), key


def test_an_unknown_precision_is_one_line() -> None:
    with pytest.raises(ConfigError, match="train.precision must be one of fp32, bf16, fp16"):
        TrainSettings(precision="fp64")
    with pytest.raises(ConfigError, match="train.precision"):
        MixedPrecision("int8", torch.device("cpu"))


@pytest.mark.slow  # compiling on a 2-core CPU takes minutes
def test_compiled_training_keeps_the_checkpoint_names(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", compile=True, steps=2, ckpt_every=2)
    trainer.fit()
    state = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert state["networks"]["generator"].keys() == trainer.nets["generator"].state_dict().keys()
    assert not any(key.startswith("_orig_mod") for key in state["networks"]["generator"])


def test_bf16_trainer_switches_convolutions_and_fp32_does_not(tmp_path: Path) -> None:
    from gantrain.models.gemm_conv import GemmConv2d, GemmConvTranspose2d

    kinds = lambda trainer: {type(m) for net in (trainer.nets["generator"], trainer.nets["discriminator"]) for m in net.modules()}  # noqa: E731
    assert not kinds(make_trainer(tmp_path / "fp32")) & {GemmConv2d, GemmConvTranspose2d}
    bf16 = kinds(make_trainer(tmp_path / "bf16", precision="bf16"))
    assert not bf16 & {torch.nn.Conv2d, torch.nn.ConvTranspose2d}


@pytest.mark.parametrize(
    "capabilities, warned", [({"avx2": True}, True), ({"avx2": True, "avx512_bf16": True}, False), ({"amx_bf16": True}, False)]
)
def test_bf16_on_a_cpu_that_emulates_it_says_fp32_is_faster(monkeypatch, capsys, capabilities: dict, warned: bool) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    MixedPrecision("bf16", torch.device("cpu"))
    out = capsys.readouterr().out
    assert ("train.precision=fp32 is the faster choice" in out) == warned
    MixedPrecision("fp32", torch.device("cpu"))  # float32 never warns
    assert capsys.readouterr().out == ""
