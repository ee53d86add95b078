"""What each method promises, as data: ``model`` defines the spec classes, one module per method family
holds ``SPECS``. No check logic lives here; ``qconform.discovery.registry`` reads these modules."""
