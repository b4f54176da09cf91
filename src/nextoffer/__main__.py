"""``python -m nextoffer``, and the file that ``spark-submit`` runs: the ``nextoffer`` command.

On a cluster, ``spark-submit … "$(python -c 'import nextoffer.__main__ as m; print(m.__file__)')"
mine --engine spark …`` runs the same command; its Spark session is then the cluster's.
"""

from nextoffer.cli.main import app

if __name__ == "__main__":
    app(prog_name="nextoffer")
