# neurorecon: `make demo` and `make test` each create the environment themselves.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(STAMP)

# The order matters (see README, "Installation"): torch first, by exact pin, so that
# nothing later can pull a CUDA build; lava-nc and norse without their dependencies.
# networkx, asteval and nirtorch are not imported by neurorecon: they are what lava-nc
# (networkx: its compiler; asteval: its Dense models) and norse (nirtorch: `import norse.torch`)
# need at run time, installed by hand because those two come with --no-deps (lava-nc's pins).
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install "numpy>=1.24.4,<2" "scipy>=1.10.1,<2" "cvxpy<1.8" "nir>=1.0.8" h5py "scikit-learn>=1.6,<2" \
	    "threadpoolctl>=3.5,<4" matplotlib "numba>=0.60,<0.62" pytest pytest-timeout hypothesis
	$(PIP) install "networkx<=2.8.7" "asteval>=0.9.31,<0.10" nirtorch
	$(PIP) install --no-deps --ignore-requires-python lava-nc==0.10.0
	$(PIP) install --no-deps norse==1.1.0
	$(PIP) install --no-deps -e .
	$(PY) -c "import neurorecon, torch, norse.torch, cvxpy, nir; from neurorecon.simulate.lava_backend import import_lava; import_lava()"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/neurorecon demo

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
