"""PMG-SAM model: frozen Hiera and U²-Net branches, DRFM fusion, guided mask decoder."""
