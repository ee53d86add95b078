"""What the checks use to drive a quantizer and judge it: the contract's calls, model loading, error
metrics, the weight-codec protocol, the environment and its hiding, assertions."""
