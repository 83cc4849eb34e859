"""What is known about mail providers: presets as data, discovery from an address, and
the sender domain's DNS health."""
