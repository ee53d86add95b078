"""The release matrix (``qconform matrix``): the suite over releases of transformers, or of one backend.

``plan`` reads the lists and checks them against what the index serves (``index``);
``environments`` builds one cached environment per plan entry, everything but the varied package
pinned as here; ``run`` runs the suite in each and writes one run file per environment;
``command`` is the CLI. Reading the run files side by side (release x method, transitions, known
deviations by release) is ``qconform.report.releases``.

How far back (measured on the CPU, README "Releases"): 5.14 is the floor. Below it gptqmodel 7.6.0
refuses the release, and with kernels 0.19 installed transformers <= 5.10 builds no Llama model
(its hub-kernel table has a ``LayerRepository`` without version or revision); 5.0 also lacks
``QuantizationConfigMixin.to_diff_dict``. 4.57 is out: kernels 0.19 cannot be installed beside it,
the twins need ``transformers.core_model_loading``, and the kit's contract checks call the 5.x API
(``get_hf_quantizer``'s signature, ``integrations.accelerate._get_device_map``,
``HfQuantizer.param_element_size``).
"""
