"""Local Kubernetes stack of real upstream programs, run as processes on 127.0.0.1.

``python -m localstack up|down|status|logs|build`` (see ``e2e/README.md``); from Python,
``Stack().up()`` returns a :class:`localstack.stack.StackInfo` and ``Stack().down()`` stops it.

Modules: :mod:`~localstack.builds` (Go builds per pinned upstream), :mod:`~localstack.pki`
(CA, certificates, kubeconfigs), :mod:`~localstack.components` (command lines and health
probes), :mod:`~localstack.stack` (up/down/status), :mod:`~localstack.procs` (processes by
pid), :mod:`~localstack.ports` (free loopback ports), :mod:`~localstack.clients` (kubectl and
PromQL for bootstrap and tests), :mod:`~localstack.waiting` (polling with deadlines) and
:mod:`~localstack.paths` (where everything lives, outside the git tree).
"""
