"""Training-free performance estimation: zero-cost proxies and NASWOT score an untrained
network on one minibatch (``measures``), under the initialization the authors' runs used
(``init``)."""
