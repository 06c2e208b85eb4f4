"""Realistic fake storefront, ERP, CRM and carrier APIs for the demo and the end-to-end tests.

They are started by ``ecombus up`` / the demo and by tests, never deployed.
"""
