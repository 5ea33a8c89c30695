"""The official `kubernetes` client, configured from the settings. Imported only by the
`k8s_sync` command at run time, never at Django start-up."""
from __future__ import annotations

import os

from django.conf import settings
from kubernetes import client, config


def api_client() -> client.ApiClient:
    """In a pod (and no K8S_KUBECONFIG given): the service account. Elsewhere: the
    kubeconfig at K8S_KUBECONFIG, else $KUBECONFIG, else ~/.kube/config."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not settings.K8S_KUBECONFIG:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=settings.K8S_KUBECONFIG or None,
            context=settings.K8S_CONTEXT or None,
            client_configuration=configuration,
        )
    return client.ApiClient(configuration)
