# Thin wrappers over the project's scripts. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# p4c and bmv2 live on PATH or under this prefix (see README: Real bmv2).
P4_TOOLCHAIN_PREFIX ?= /opt/p4-toolchain
export P4_TOOLCHAIN_PREFIX
export PATH := $(PATH):$(P4_TOOLCHAIN_PREFIX)/bin
TARGET ?= embedded
# The lab's mapping store: local (one controller) or etcd (one controller per NVE, sharing VM
# locations through an etcd the lab starts; Debian: apt-get install etcd-server).
STORE ?= local
PYTEST_ARGS ?=

.PHONY: help venv p4 check-p4 p4-tna check-p4-tna tna-includes constants check-constants proto check-proto etcd-proto check-etcd-proto test unit ptf parity bench fuzz p4shell demo lab-up lab-down clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

venv: $(VENV)/.installed ## create .venv and install the project with its test tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

p4: venv ## recompile p4src/ with p4c into p4src/build/ and regenerate p4names.py
	$(PY) tools/p4build.py compile
	$(MAKE) constants

check-p4: venv ## fail when p4src/build does not match the sources (recompiles when p4c is installed)
	$(PY) tools/p4build.py check

TNA_INCLUDE_DIR ?= /var/tmp/tna-include
export TNA_INCLUDE_DIR
P4C_REPO ?=

p4-tna: venv ## validate p4src/tna with p4test + the TNA includes and rewrite p4src/tna/build
	$(PY) tools/p4build_tna.py compile

check-p4-tna: venv ## fail when p4src/tna/build does not match its sources (recompiles when p4test and the includes exist)
	$(PY) tools/p4build_tna.py check

tna-includes: venv ## extract the TNA include files from a p4c clone (>= v1.2.4.17): make tna-includes P4C_REPO=DIR
	$(PY) tools/p4build_tna.py includes --p4c-repo $(P4C_REPO)

constants: venv ## regenerate controlplane/p4rt/p4names.py from the P4Info
	$(PY) -m controlplane.p4rt.gen_p4names p4src/build/nve.p4info.txtpb controlplane/p4rt/p4names.py

check-constants: venv ## fail when p4names.py is stale
	$(PY) -m controlplane.p4rt.gen_p4names --check p4src/build/nve.p4info.txtpb controlplane/p4rt/p4names.py

proto: venv ## regenerate the signalling protocol's Python code (grpcio-tools==1.81.1)
	$(PY) tools/gen_proto.py

check-proto: venv ## fail when the generated signalling code is stale
	$(PY) tools/gen_proto.py --check

etcd-proto: venv ## regenerate the etcd v3 API subset's Python code
	$(PY) tools/gen_etcd_proto.py

check-etcd-proto: venv ## fail when the generated etcd code is stale
	$(PY) tools/gen_etcd_proto.py --check

unit: venv ## pytest only
	$(PY) -m pytest $(PYTEST_ARGS)

ptf: venv ## PTF packet tests on TARGET=embedded|bmv2 (bmv2 needs root and simple_switch_grpc)
	$(PY) ptf_tests/run.py --target $(TARGET)

test: venv check-p4 check-p4-tna check-constants check-proto check-etcd-proto ## everything that can run here; skips say why
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) ptf_tests/run.py --target embedded
	$(PY) ptf_tests/run.py --target bmv2

parity: venv ## differential test: the same 10,000 frames through the embedded target and bmv2 (root)
	$(PY) -m pytest tests/test_parity_bmv2.py -s

BENCH_ARGS ?=

bench: venv ## speed figures as ratios vs same-run baselines, embedded and bmv2 (a few minutes; never in test)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

FUZZ_EXAMPLES ?= 100000

fuzz: venv ## fuzz signalling, P4Runtime and VDP with FUZZ_EXAMPLES inputs each; counts printed
	NVE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) tools/fuzz.py

GRPC_ADDR ?= 127.0.0.1:9559
ELECTION_ID ?= 0,1
P4SHELL_ARGS ?=

p4shell: ## p4runtime-shell on a running switch (own venv .venv-p4shell; ELECTION_ID=0,N above the controller's to write)
	$(PYTHON) tools/p4shell.py --grpc-addr $(GRPC_ADDR) --device-id 1 --election-id $(ELECTION_ID) \
		--config p4src/build/nve.p4info.txtpb,p4src/build/nve.json $(P4SHELL_ARGS)

DEMO_ARGS ?=
LAB_ARGS ?=

demo: venv ## the lab demo: VMs in two VNs, an ACL, a live migration under a 1 kpps probe (STORE=etcd: a controller per NVE; DEMO_ARGS=--keep keeps the lab up)
	$(PY) -m bmv2_lab demo --target $(TARGET) --store $(STORE) $(DEMO_ARGS)

lab-up: venv ## the lab and its controller (root: namespaces, else UDP loopback); TARGET=bmv2 for simple_switch_grpc, STORE=etcd for a controller per NVE
	$(PY) -m bmv2_lab up --target $(TARGET) --store $(STORE) $(LAB_ARGS)

lab-down: venv ## remove the lab, also after a crash
	$(PY) -m bmv2_lab down

clean: ## remove the lab, the virtualenvs and caches
	-[ -x $(PY) ] && $(PY) -m bmv2_lab down
	rm -rf $(VENV) .venv-p4shell .pytest_cache run
	find . -name __pycache__ -prune -exec rm -rf {} +
