"""The spec language: read YAML/JSON with line numbers, expand blocks/variants/vars, validate rows and the
`train:` section. Pure Python: never imports TensorFlow."""
