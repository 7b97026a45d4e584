"""Generators and discriminators, one paper per file, and what runs them: the interface every network
declares (base.py: generate, discriminate, is_conditional, ...), shared layers (layers.py), batch norm's
running statistics (batch_norm.py), the GEMM convolutions (gemm_conv.py), inference (inference.py) and
the pictures drawn from networks (pictures.py). Imports only core/."""
