"""File formats and file plumbing, below the data model (records.py) and above nothing else of microfuse.

One module per concern: ``files`` (decompression, stdin, size caps), ``outputs`` (the output policy, atomic
writes), ``tsv``, ``fasta``, ``gff``, ``genbank`` and ``tables`` (the pairs, scores and operon tables).
"""
