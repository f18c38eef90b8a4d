"""Who is calling and what they may do: SigV4 verification, access keys, authorization."""
