"""ecombus shared library: the mechanisms every service stands on.

Subpackages: ``local`` (a real Kafka broker from Maven jars), ``cli`` (the ``ecombus`` command);
modules: ``settings`` (12-factor configuration), ``errors`` (the error hierarchy), ``kafka``
(client configuration), ``topics`` (topics as code).
"""

__version__ = "0.1.0"
