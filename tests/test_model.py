import pytest
import torch

from core.model.decoder import Architecture, Decoder, LatentTable, latent_field


def test_paper_decoder_parameter_count():
    decoder = Decoder(Architecture())
    assert sum(p.numel() for p in decoder.parameters()) == 1_843_195


def test_skip_layer_restores_width():
    arch = Architecture(latent_size=256)
    decoder = Decoder(arch)
    assert decoder.lin3.weight.shape == (512 - 259, 512)
    assert decoder.lin4.weight.shape == (512, 512)
    out = decoder(torch.zeros(5, 259))
    assert out.shape == (5, 1) and out.abs().max() < 1


def test_latent_field_matches_decoder():
    arch = Architecture(latent_size=16, dims=[64] * 8)
    decoder = Decoder(arch).eval()
    z, xyz = torch.randn(16), torch.rand(200, 3) * 2 - 1
    full = decoder(torch.cat([z.expand(200, 16), xyz], 1))[:, 0]
    assert torch.allclose(latent_field(decoder, z)(xyz), full, atol=1e-6)


def test_latent_field_follows_the_weights_as_they_change():
    """``plain_weights`` keeps its folded weights between fits; a training step or a loaded state must not leave
    ``latent_field`` on the old ones."""
    torch.manual_seed(0)
    decoder = Decoder(Architecture(latent_size=8, dims=[32, 32, 32], latent_in=[1])).eval()  # no dropout
    z, xyz = torch.randn(8), torch.rand(50, 3) * 2 - 1
    before = latent_field(decoder, z)(xyz)
    assert decoder.plain_weights() is decoder.plain_weights()  # kept
    opt = torch.optim.SGD(decoder.parameters(), lr=0.1)
    decoder(torch.cat([z.expand(50, -1), xyz], 1)).sum().backward()
    opt.step()
    with torch.no_grad():
        stepped = decoder(torch.cat([z.expand(50, -1), xyz], 1))[:, 0]
    assert not torch.allclose(stepped, before) and torch.allclose(latent_field(decoder, z)(xyz), stepped, atol=1e-6)
    other = Decoder(decoder.arch).eval()
    decoder.load_state_dict(other.state_dict())
    with torch.no_grad():
        loaded = other(torch.cat([z.expand(50, -1), xyz], 1))[:, 0]
    assert torch.allclose(latent_field(decoder, z)(xyz), loaded, atol=1e-6)


def test_official_specs_block():
    specs = {"CodeLength": 256, "NetworkSpecs": {"dims": [512] * 8, "dropout": [0, 1, 2, 3, 4, 5, 6, 7],
             "dropout_prob": 0.2, "norm_layers": [0, 1, 2, 3, 4, 5, 6, 7], "latent_in": [4],
             "xyz_in_all": False, "use_tanh": False, "latent_dropout": False, "weight_norm": True}}
    arch = Architecture.from_specs(specs)
    assert arch == Architecture()
    assert Architecture.from_specs(arch.to_specs()) == arch
    with pytest.raises(ValueError, match="xyz_in_all"):
        Architecture.from_specs({"NetworkSpecs": {**specs["NetworkSpecs"], "xyz_in_all": True}})


def test_latent_table_checks_sizes():
    with pytest.raises(ValueError, match="names"):
        LatentTable(torch.zeros(3, 4), ["a", "b"])
    table = LatentTable(torch.zeros(2, 4), ["a", "b"])
    assert table.index("b") == 1
    with pytest.raises(KeyError, match="no shape named"):
        table.index("c")


def test_geometric_init_starts_as_a_sphere_negative_inside():
    arch = Architecture(latent_size=64, dims=[128] * 8, dropout_prob=0.0)
    torch.manual_seed(0)
    decoder = Decoder(arch, "geometric").eval()
    xyz = torch.randn(2000, 3)
    xyz = xyz / xyz.norm(dim=1, keepdim=True) * torch.rand(2000, 1)
    for z in (torch.zeros(64), torch.randn(64) / 8):  # the same field for every code at the start
        f = decoder(torch.cat([z.expand(2000, 64), xyz], 1))[:, 0]
        assert (f - torch.tanh(xyz.norm(dim=1) - 0.5)).abs().mean() < 0.1
        assert f[xyz.norm(dim=1) < 0.3].max() < 0 < f[xyz.norm(dim=1) > 0.7].min()
    with pytest.raises(ValueError, match="unknown decoder init"):
        Decoder(arch, "zeros")
