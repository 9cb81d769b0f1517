"""Sample monitors (Doctor): watch hosts and report raw failures to the inspector."""
