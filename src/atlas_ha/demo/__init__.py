"""A simulated group of servers on one machine (local transport) and the seed's scenarios."""
