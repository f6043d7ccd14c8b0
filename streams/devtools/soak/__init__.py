"""`jobstream soak`: an hour at a steady share of capacity, memory and latency sampled, judged at the end."""
