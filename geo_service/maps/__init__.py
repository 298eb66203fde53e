"""Maps for people: the public care map (关爱地图) and offline (self-contained) folium maps."""
