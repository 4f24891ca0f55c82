"""The mock's domain models (moto's ``models.py``): the platform's rules, no HTTP."""
