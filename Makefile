# Release and tooling shortcuts. See README.md, "Cutting a release".
PYTHON ?= python3

.PHONY: dist krew-tools

# dist/: the krew archive kubectl-netfix_vX.Y.Z.tar.gz and its filled manifest netfix.yaml,
# the zipapp, a wheel, an sdist and SHA256SUMS.
dist:
	$(PYTHON) scripts/build_dist.py --out dist

# krew, validate-krew-manifest and kubectl for tests/test_krew.py, built once per machine into
# $${NETFIX_CACHE:-$$HOME/.cache/kubectl-netfix}.
krew-tools:
	bash scripts/krew-tools.sh build
