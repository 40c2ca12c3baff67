# The local stack of real upstream components (e2e/README.md): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok, the Argo Rollouts controller, Prometheus and
# the agent traffic simulator, as processes on 127.0.0.1. Included from the Makefile, whose
# CACHE_DIR, PY and install it uses. State: $AGENT_RELEASE_STACK_DIR (default
# $(CACHE_DIR)/stack); after stack-up, `source $(CACHE_DIR)/stack/env`.

LOCALSTACK = PYTHONPATH=$(CURDIR)/e2e AGENT_RELEASE_CACHE_DIR=$(CACHE_DIR) $(PY) -m localstack
STACK_LOG_LINES ?= 20

.PHONY: stack-build stack-up stack-down stack-status stack-logs

stack-build: install ## build the stack's Go programs (once per pinned version)
	$(LOCALSTACK) build

stack-up: install debian-packages ## start the local stack, or check it is up (idempotent)
	$(LOCALSTACK) up

stack-down: install ## stop the local stack; keeps builds and logs
	$(LOCALSTACK) down

stack-status: install ## per-component state of the local stack
	@$(LOCALSTACK) status

stack-logs: install ## last lines of each component's log (STACK_LOG_LINES=n)
	@$(LOCALSTACK) logs -n $(STACK_LOG_LINES)
