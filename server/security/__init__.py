"""Keys, tokens and rules on untrusted input, and the one guard every outbound request passes."""
