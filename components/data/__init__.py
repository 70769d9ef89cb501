"""DataLayer's stores, one module per store; `components/data_layer.py` composes them."""
