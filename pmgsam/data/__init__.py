"""Datasets (DIS5K, COD10K, NC4K, folder pairs), transforms and generated demo data."""
