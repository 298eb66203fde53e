"""Loading a bureau's files into the layers."""
