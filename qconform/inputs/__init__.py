"""What the checks feed a quantizer: configs, hypothesis strategies, weights and activations, tiny models."""
