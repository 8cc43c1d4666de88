// placeholder: the processor tests are being written
