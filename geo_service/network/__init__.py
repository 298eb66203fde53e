"""The road network: the roads layer as a routable graph, shortest paths and isochrones."""
