"""The outermost layer of ``bus/``: the tools a person runs, never imported by a mechanism.

``cli`` (the ``ecombus`` command), ``local`` (a real Kafka broker from Maven jars and the local
stack), ``deploy`` (the Kubernetes manifest, alert and dashboard generator) and ``ops`` (what the
operators' commands read and replay: lag, dead letters, traces).
"""
