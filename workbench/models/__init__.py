"""Model builders and layer groups, the pretrained-weights store, the weights bundled with the install and the name mappings of other implementations."""
