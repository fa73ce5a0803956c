"""Handlers for the operations that are not plain CRUD, one module per resource or concern.

The generic list/get/create/update/delete handlers are in :mod:`..records`; the route table
(:mod:`..routes`) names which handler serves which operation.
"""
