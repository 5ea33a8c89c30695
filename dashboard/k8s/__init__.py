"""The optional Kubernetes mirror (`manage.py k8s_sync`).

Only `dashboard.k8s.client` and `dashboard.k8s.sync` import the `kubernetes` client, and
nothing that Django loads at start-up imports them: a Stashboard without the mirror
never pays for the client (tests/k8s/test_k8s_setup.py checks it)."""
