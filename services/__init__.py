"""ecombus services: one package per service, each with the same few modules.

``main`` (entry point), ``wiring`` (builds the service from settings), ``handlers`` (the business
rules) and ``settings`` (its environment variables).
"""
