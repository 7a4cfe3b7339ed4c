"""What this machine has: GPUs, drivers, toolkits."""
