"""`atlas-ha demo`: one script of acts (script.py), played on the lab or on the simulation
(lab_stage.py, sim_stage.py over stage.py), told by one narrator (narrator.py)."""
