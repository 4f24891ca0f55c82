"""The experience contract suite: ``losant-contracts experience --spec FILE ...``.

Holds any implementation of an experience API (the kit's mock, a live
``https://SLUG.onlosant.com``) to the author's own OpenAPI file: Schemathesis
conformance of every operation, the file's links, authentication and
tenancy between two experience users.
"""
