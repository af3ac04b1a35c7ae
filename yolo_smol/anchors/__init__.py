"""Chapter 2, anchors: box shapes clustered with k-means under the IoU distance.

``kmeans`` (the clustering and its figures of merit), ``explorer`` (the ipywidgets explorer
and its static figure).
"""
