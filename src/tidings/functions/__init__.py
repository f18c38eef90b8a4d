"""Functions: code packages, execution environments (Python, Node.js) and invocation."""
