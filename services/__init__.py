"""The four ADES services (ui, ide, collab, viz), each a Flask app built by the chassis."""
